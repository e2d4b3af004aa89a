"""ketaflow: clinical software for networks of IV ketamine infusion clinics."""

__version__ = "0.1.0"
