"""Settings decide how every Kafka client connects (runtime/kafka.py)."""

from __future__ import annotations

import ssl

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from runtime import kafka
from runtime.settings import Settings, SettingsError

MSK = {
    "BANK_KAFKA_BOOTSTRAP": "b-1.msk:9096,b-2.msk:9096",
    "BANK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "BANK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "BANK_KAFKA_SASL_USERNAME": "bank-cdc",
    "BANK_KAFKA_SASL_PASSWORD": "s3cret",
}


def test_the_local_stack_connects_in_plaintext() -> None:
    settings = Settings.from_env({})
    assert kafka.producer_kwargs(settings.kafka, acks="all") == {
        "bootstrap_servers": "127.0.0.1:19092",
        "security_protocol": "PLAINTEXT",
        "compression_type": "zstd",
        "acks": "all",
    }
    assert kafka.librdkafka_config(settings.kafka) == {
        "bootstrap.servers": "127.0.0.1:19092",
        "security.protocol": "PLAINTEXT",
    }


def test_msk_with_scram_over_tls_gets_sasl_credentials_and_a_verifying_context() -> None:
    settings = Settings.from_env(MSK)
    kwargs = kafka.consumer_kwargs(settings.kafka, group_id="projections")
    assert kwargs["bootstrap_servers"] == "b-1.msk:9096,b-2.msk:9096"
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("bank-cdc", "s3cret")
    assert kwargs["group_id"] == "projections"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert kafka.librdkafka_config(settings.kafka, {"acks": "all"}) == {
        "bootstrap.servers": "b-1.msk:9096,b-2.msk:9096",
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "bank-cdc",
        "sasl.password": "s3cret",
        "acks": "all",
    }


def test_a_ca_file_is_what_the_tls_context_trusts(tmp_path) -> None:
    from infra.local.tls import ensure_self_signed

    _, cert = ensure_self_signed(tmp_path)
    settings = Settings(kafka_security_protocol="SSL", kafka_ca_file=str(cert))
    context = kafka.admin_kwargs(settings.kafka)["ssl_context"]
    assert context.cert_store_stats()["x509"] == 1  # that file only, not the system CAs
    assert kafka.librdkafka_config(settings.kafka)["ssl.ca.location"] == str(cert)
    assert "sasl_mechanism" not in kafka.admin_kwargs(settings.kafka)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_aiokafka_accepts_what_settings_build(protocol: str, mechanism: str) -> None:
    settings = Settings.from_env(
        {**MSK, "BANK_KAFKA_SECURITY_PROTOCOL": protocol, "BANK_KAFKA_SASL_MECHANISM": mechanism}
    )
    # The constructors validate protocol, mechanism and context without connecting.
    AIOKafkaProducer(**kafka.producer_kwargs(settings.kafka, acks="all"))
    AIOKafkaConsumer("account-events", **kafka.consumer_kwargs(settings.kafka, group_id="g"))
    AIOKafkaAdminClient(**kafka.admin_kwargs(settings.kafka))


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"BANK_KAFKA_SECURITY_PROTOCOL": "TLS"}, "use one of PLAINTEXT, SSL"),
        ({**MSK, "BANK_KAFKA_SASL_MECHANISM": "GSSAPI"}, "BANK_KAFKA_SASL_MECHANISM='GSSAPI'"),
        ({**MSK, "BANK_KAFKA_SASL_PASSWORD": ""}, "needs BANK_KAFKA_SASL_USERNAME and"),
        ({"BANK_KAFKA_SASL_USERNAME": "u"}, "does not use SASL"),
        ({"BANK_KAFKA_CA_FILE": "/etc/ca.pem"}, "does not use TLS"),
    ],
)
def test_settings_that_cannot_connect_fail_when_a_client_is_built_naming_the_variable(
    env: dict[str, str], says: str
) -> None:
    settings = Settings.from_env(env)  # a process without a Kafka client starts
    for build in (kafka.producer_kwargs, kafka.consumer_kwargs, kafka.admin_kwargs):
        with pytest.raises(SettingsError, match=says.replace("(", r"\(")):
            build(settings.kafka)
    with pytest.raises(SettingsError, match=says.replace("(", r"\(")):
        kafka.librdkafka_config(settings.kafka)


def test_a_caller_cannot_override_the_connection() -> None:
    with pytest.raises(ValueError, match="come from settings.kafka"):
        kafka.producer_kwargs(Settings().kafka, bootstrap_servers="elsewhere:9092")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_librdkafka_accepts_what_settings_build(mechanism: str, tmp_path) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    from infra.local.tls import ensure_self_signed

    _, cert = ensure_self_signed(tmp_path)
    settings = Settings.from_env(
        {**MSK, "BANK_KAFKA_SASL_MECHANISM": mechanism, "BANK_KAFKA_CA_FILE": str(cert)}
    )
    # librdkafka validates every property (and loads the CA file) when the client is made.
    producer = confluent_kafka.Producer(kafka.librdkafka_config(settings.kafka, {"acks": "all"}))
    assert producer.flush(0) == 0
    with pytest.raises(confluent_kafka.KafkaException):  # it does check: a typo fails
        confluent_kafka.Producer(kafka.librdkafka_config(settings.kafka, {"ack": "all"}))
