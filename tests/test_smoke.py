def test_viewer(api):
    data = api("{ viewer { role tenant { name currency } } }")
    assert data["viewer"] == {
        "role": "GLOBAL_ADMIN",
        "tenant": {"name": "Fabrikam", "currency": "EUR"},
    }
