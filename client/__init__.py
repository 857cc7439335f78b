"""Client side of ledgerlake: Fabric CA over REST and Fabric-style signing (the Gateway
client, events and block decoding come with the client issue)."""

from ledgerlake.client.ca import CAClient, Enrollment, certificate_attributes
from ledgerlake.client.signing import Signer, signer_from_key, to_low_s

__all__ = ["CAClient", "Enrollment", "Signer", "certificate_attributes", "signer_from_key",
           "to_low_s"]
