"""FHIR R4 over the records and analyses: mapping out (``resources``), in (``inbound``), search and views."""
