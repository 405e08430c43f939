"""Pipeline stages: one thin module per `bonta <stage>` command."""
