"""Bring a caseload in from the standard extracts, audit their due dates, and export back.

    readers (ssd, ssda903, cin)  ->  history (a neutral per-child record, each fact with its origin)
    history  ->  replay (the child's events fired through the Engine, backdated)  ->  store
    history + engine  ->  audit (the extract's due dates against caseclock's)
    store  ->  export (caseclock's dates in the return's own layout)

Nothing here writes around the engine: every imported event is an `Engine.open_case` or
`Engine.fire`, with the same validation and the same deadlines as any other command.
"""
