"""The web view: ``vidlle preview --http`` and ``vidlle serve --http`` show the cameras in a browser.

feed.py (pictures: compressed only while watched, capped rate and size), server.py (HTTP,
access, redacted JSON, motion-JPEG streams), page.py (the page), views.py (what each command
shows). See docs/web.md.
"""
