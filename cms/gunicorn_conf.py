"""gunicorn's configuration for ``cms serve`` (``--config python:cms.gunicorn_conf``): server hooks and the
logger class. Command-line options (bind, workers, timeouts) stay in ``cms.cli.gunicorn_command``."""

from __future__ import annotations

import os

from gunicorn.glogging import Logger as _GunicornLogger

from cms.serve_metrics import child_exit, on_exit, on_starting  # noqa: F401  (gunicorn reads them by name)


class CmsLogger(_GunicornLogger):
    """gunicorn's own lines (master and workers, error and access log) in the format of ``CMS_LOG_FORMAT``,
    so that with ``json`` every line the server writes is a JSON object."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        log_format = os.environ.get("CMS_LOG_FORMAT", "plain")
        if log_format == "plain":
            return
        from cms.logs import formatter

        fmt = formatter(log_format)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(fmt)


logger_class = "cms.gunicorn_conf.CmsLogger"
