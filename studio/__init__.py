"""Tessera's studio: a Gradio app that is a thin adapter from UI values to one engine call.

    config.py     StudioConfig (frozen): host, port, device, workspace, limits
    workspace.py  the workspace folders, the single-instance lock and `inside`, the one helper
                  that turns a name from the page into a path (resolved, containment checked)
    library.py    every result: media file, thumbnail, settings JSON, indexed in SQLite
    worker.py     one compute thread: lazy engine, a visible queue, progress, cancel
    actions.py    the studio's operations (draft, render, image, edits, storyboard, export)
    styles.py     style presets (shipped and saved in the workspace)
    ui/           the Gradio page, one file per tab
    app.py        build the page, launch it safely (main())

Nothing here imports torch at import time; the engine loads in the worker on first use.
"""
