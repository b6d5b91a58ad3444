"""Settings from CMS_* variables, and the ones refused at start-up."""

import pytest

from cms.config import load_settings


def test_settings_are_read_from_cms_variables():
    s = load_settings(environ={"CMS_HEARTBEAT_INTERVAL": "45", "CMS_AUTO_REGISTER": "true", "CMS_CURRENCY": "CHF"})
    assert (s.heartbeat_interval, s.auto_register, s.currency) == (45, True, "CHF")


@pytest.mark.parametrize("currency", ["euro", "eur", "EU", "€", "EUR1"])
def test_a_currency_that_is_not_an_iso_code_is_refused(currency):
    with pytest.raises(ValueError, match="ISO 4217"):
        load_settings(environ={"CMS_CURRENCY": currency})
