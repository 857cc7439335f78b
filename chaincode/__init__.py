"""The ledgerlake chaincode and the lean runtime that serves it as chaincode-as-a-service."""
