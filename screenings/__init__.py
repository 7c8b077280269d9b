"""Patients' pre-screening records: the store, export, delete, purge and the link key.

No Rasa here: the action server saves records (actions/privacy.py), the tracker
store shares the private-file rules (bot/server/tracker_store.py), and
``python -m bot records ...`` exports, deletes and purges them.
"""
