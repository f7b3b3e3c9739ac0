"""AIT-COMMS control plane: routes calls over ARI/AMI, keeps the CRM, serves the UI."""
