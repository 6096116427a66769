"""The legacy routes' body reader: what is JSON but cannot be read is a 400 saying so."""

from __future__ import annotations

import httpx

from tests.factories import Factory, training_run_count
from trainql.services import Services


async def test_a_number_past_pythons_digit_limit_is_400_and_records_nothing(
    client: httpx.AsyncClient, factory: Factory, services: Services
):
    hr = await factory.hr_staff()
    response = await client.post(
        "/api/training/train/",
        content=b'{"test_split": ' + b"1" * 5000 + b"}",
        headers={**hr.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Request body holds a number of more than 4300 digits, which no field "
        "accepts. Expected a JSON object of training parameters."
    }
    assert await training_run_count(services) == 0
