"""The committed Great Expectations suites, one JSON per source (`<source>.json`).

The validate stage loads them through this package (`importlib.resources`);
`create_suites` generates them from the source contracts when a contract
changes (`python -m expectations.create_suites`).
"""
