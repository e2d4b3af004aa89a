"""FHIR R4 interoperability: the code table (codes.py) and the pure record-to-resource mapping."""
