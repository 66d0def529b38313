"""Settings: one Struct per concern, flat names and BANK_* variables still work."""

from __future__ import annotations

import pickle

import pytest

from runtime.settings import Settings, SettingsError


def test_flat_names_and_concerns_read_the_same_value() -> None:
    settings = Settings.from_env({"BANK_KAFKA_BOOTSTRAP": "k:9092", "BANK_API_PORT": "8001"})
    assert settings.kafka_bootstrap == settings.kafka.bootstrap == "k:9092"
    assert settings.api_port == settings.http.api_port == 8001
    assert settings.pipeline_stall_seconds == settings.pipeline.stall_seconds == 30.0
    assert Settings(group_commit="false").commands.group_commit is False


def test_every_variable_is_read_by_its_flat_name() -> None:
    names = Settings.env_names()
    assert len(names) == len(set(names)) >= 45
    assert {"BANK_DATABASE_URL", "BANK_KAFKA_SASL_PASSWORD", "BANK_REDIS_CA_FILE"} <= set(names)
    assert set(Settings().flat()) == {n.removeprefix("BANK_").lower() for n in names}


def test_one_database_url_serves_both_roles() -> None:
    settings = Settings.from_env({"BANK_DATABASE_URL": "postgresql://u@db:5432/bank"})
    assert settings.admin_database_url == "postgresql://u@db:5432/bank"


def test_postgres_tls_settings_reach_both_urls_unless_a_url_has_its_own() -> None:
    settings = Settings.from_env(
        {
            "BANK_DATABASE_URL": "postgresql://bank_app@db/bank",
            "BANK_ADMIN_DATABASE_URL": "postgresql://bank@db/bank?sslmode=require",
            "BANK_DATABASE_SSLMODE": "verify-full",
            "BANK_DATABASE_SSLROOTCERT": "/etc/bank/rds-ca.pem",
        }
    )
    assert settings.database_url == (
        "postgresql://bank_app@db/bank?sslmode=verify-full&sslrootcert=%2Fetc%2Fbank%2Frds-ca.pem"
    )
    assert settings.admin_database_url.startswith("postgresql://bank@db/bank?sslmode=require&")
    assert settings.database.url == "postgresql://bank_app@db/bank"  # as configured


def test_redis_over_tls_gets_its_ca_file() -> None:
    settings = Settings(redis_url="rediss://:pw@cache:6379/0", redis_ca_file="/etc/ca.pem")
    assert settings.redis_url == "rediss://:pw@cache:6379/0?ssl_ca_certs=%2Fetc%2Fca.pem"
    with pytest.raises(SettingsError, match="not rediss://"):
        Settings(redis_ca_file="/etc/ca.pem")


def test_wrong_values_fail_with_the_setting_named() -> None:
    with pytest.raises(SettingsError, match="BANK_DATABASE_SSLMODE='on'"):
        Settings(database_sslmode="on")
    with pytest.raises(ValueError, match=r"\(http\).*api_port"):
        Settings.from_env({"BANK_API_PORT": "eighty"})
    with pytest.raises(TypeError, match="unknown settings: api_prot"):
        Settings(api_prot=1)
    with pytest.raises(ValueError, match=r"\(commands\).*>= 1.*group_commit_in_flight"):
        Settings.from_env({"BANK_GROUP_COMMIT_IN_FLIGHT": "0"})  # no group could ever start


def test_settings_are_frozen_comparable_and_survive_pickling() -> None:
    settings = Settings(api_port=8001, jwt_secret="jwt-secret-value")
    with pytest.raises(AttributeError):
        settings.api_port = 1  # type: ignore[misc]  # the point: assignment is refused
    assert settings.replace(api_port=8002).api_port == 8002
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert "jwt-secret-value" not in repr(settings)
