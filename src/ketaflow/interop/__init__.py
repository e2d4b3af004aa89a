"""Pure translation between ketaflow's domain and other systems' messages (HL7 v2 here).

Nothing here touches the database or the web: a message in, plain dataclasses out (and back).
"""
