"""What ``trading test`` runs: module test selection and the CI steps."""
