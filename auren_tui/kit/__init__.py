"""The live-screen kit: what the Dashboard, Tail and Containers screens share.

- ``filter_box``: the `/` filter box (show/hide, Escape, focus return, debounce);
  what matches is the one grammar of ``core/filtering.py`` (no Textual in it).
- ``poller``: a refresh re-armed after the last one landed, skipped while hidden.
- ``failures``: a failed worker as one message the app reports in one place.
- ``live_screen``: the screen base class that wires the three together.
"""
