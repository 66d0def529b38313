"""What every process of the platform stands on: settings from the environment,
logging, tracing, process helpers. It imports nothing of ``server``, ``cdc`` or
``client``; they import it."""
