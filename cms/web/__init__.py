"""Flask blueprints: health checks, the JSON API, the owner dashboard."""
