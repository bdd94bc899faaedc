mod crd_schema;
