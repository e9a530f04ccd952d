"""Flows: the Prefect side of katsaus, composing the stages of `tasks/` and nothing else.

`report` is the report flow (build, approval, delivery); `stages` wraps each
stage as a task; `params` is the run's form and the approval input;
`artifacts` and `hooks` are what the Prefect UI and the operators see; `watch`
reports approval waits that expired while suspended; `killpoints` lets the
fault suite kill a run at a stage boundary; `home` is where relative places
live; `cli` is the `katsaus` command line.
"""
