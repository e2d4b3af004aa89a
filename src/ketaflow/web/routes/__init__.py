"""Routes by area; each module has a `router` that `create_app` includes."""
