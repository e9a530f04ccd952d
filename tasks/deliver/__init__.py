"""Deliver: approved report versions archived immutably and e-mailed to the board exactly once.

Takes the approved report folder, its content fingerprint and key figures;
gives an `ArchivedVersion` (`archive`) and its delivery: a copy in the
publication folder and one e-mail per version (`mail_settings` from the
environment, `messages` in Finnish, `smtp` sending with retries, `record` the
warehouse's ledger that makes it exactly once, `delivery` putting them
together). Messages for people are Finnish and never carry credentials or
tracebacks.
"""
