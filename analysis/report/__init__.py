"""Report assembly: reads the released stage manifests and tables, renders HTML, PDF and tables."""
