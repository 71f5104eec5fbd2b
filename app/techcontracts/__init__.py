"""Technology-contract registration (技术合同认定登记, SPEC §18.7)."""
