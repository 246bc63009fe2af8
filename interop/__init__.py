"""Interoperability: the FHIR R4 API (``interop.fhir``) and the PDF visit report (``interop.pdf``)."""
