"""The content security policy's rules alone: refused sources, the map tiles' origin, the driver app's policy."""

from __future__ import annotations

import pytest
from flask import Blueprint

from cms.web.security import DRIVER_APP_POLICY, SecurityHeaders, _directives, blueprint_policy, page_policy, tile_origin


def test_page_policies_refuse_unsafe_sources():
    with pytest.raises(ValueError, match="unsafe-inline"):
        page_policy(script_src=["'unsafe-inline'"])
    with pytest.raises(ValueError):
        blueprint_policy(Blueprint("x", __name__), style_src=["'self'; script-src *"])


def test_tile_origin_of_url_templates():
    assert tile_origin("") == ""
    assert tile_origin("https://tile.example.org/{z}/{x}/{y}.png") == "https://tile.example.org"
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert tile_origin("http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png") == "http://10.0.0.5:8080"
    for bad in (
        "ftp://tiles.example.org/{z}",
        "tiles.example.org/{z}/{x}/{y}.png",
        "https://a.{s}.example.org/x",
        "javascript:alert(1)",
    ):
        with pytest.raises(ValueError, match="CMS_MAP_TILES_URL"):
            tile_origin(bad)


def test_driver_app_policy_without_a_tile_server():

    policy = SecurityHeaders("http://127.0.0.1:8000", "").policy(_directives(DRIVER_APP_POLICY))
    assert "img-src 'self' data:;" in policy and "connect-src 'self';" in policy
    assert "worker-src 'self'" in policy and "manifest-src 'self'" in policy and "map-tiles" not in policy
