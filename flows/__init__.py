"""Flows: the Prefect side of katsaus, composing the stages of `tasks/` and nothing else.

`report` is the report flow (build, approval, delivery); `stages` wraps each
stage as a task; `params` is the run's form and the approval input;
`artifacts` and `hooks` are what the Prefect UI and the operators see; `cli`
is the `katsaus` command line.
"""
