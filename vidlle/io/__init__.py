"""Sources (decode) and sinks (encode). Codecs and files live here; models never do."""
