"""Request and response schemas of the REST API: one family per entity (XCreate, XUpdate,
XPublic), kept apart from the storage domain objects."""
