"""Reading querycommitted's listing: "not committed yet" is an empty answer, not an error."""

import json

import pytest

from ledgerlake.errors import NetworkError
from ledgerlake.network.lifecycle import pick_definition


def test_no_definition_before_the_first_commit():
    assert pick_definition('{"chaincode_definitions": []}', "ledgerlake") is None
    assert pick_definition("{}", "ledgerlake") is None


def test_our_definition_is_picked_by_name():
    listing = json.dumps({"chaincode_definitions": [
        {"name": "other", "sequence": 4, "version": "a"},
        {"name": "ledgerlake", "sequence": 2, "version": "b"}]})
    assert pick_definition(listing, "ledgerlake")["sequence"] == 2
    assert pick_definition(listing, "absent") is None


def test_an_answer_that_is_not_the_listing_is_an_error():
    with pytest.raises(NetworkError, match="not its JSON listing"):
        pick_definition("Error: 404 - namespace ledgerlake is not defined", "ledgerlake")
