"""Instrument catalog: trees, deployments, calibrations, series <-> components, the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pytest
from django.test import Client

from stratoflow.dataset import make_dataset
from stratoflow.errors import CatalogError

if TYPE_CHECKING:
    from stratoflow.server.catalog.models import Aircraft, Component, Series

pytestmark = pytest.mark.django_db


@dataclass
class Tree:
    pkg: Component
    unit: Component
    sensor: Component
    spare: Component
    aircraft: Aircraft


def _t(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


@pytest.fixture
def tree() -> Tree:
    """An instrument with a unit holding a sensor; a spare sensor; one aircraft."""
    from stratoflow.server.catalog.models import (
        Aircraft,
        Component,
        ComponentClass,
        ComponentType,
    )
    from stratoflow.server.catalog.services import installation_add

    ozone = ComponentType.objects.create(name="O3 photometer", quantity="ozone", units="1e-9")
    instrument_cls = ComponentClass.objects.create(name="instrument")
    unit_cls = ComponentClass.objects.create(name="unit")
    sensor_cls = ComponentClass.objects.create(name="sensor")
    pkg = Component.objects.create(
        component_type=ozone, component_class=instrument_cls, serial_number="P1"
    )
    unit = Component.objects.create(
        component_type=ozone, component_class=unit_cls, serial_number="U1"
    )
    sensor = Component.objects.create(
        component_type=ozone, component_class=sensor_cls, serial_number="S1"
    )
    spare = Component.objects.create(
        component_type=ozone, component_class=sensor_cls, serial_number="S2"
    )
    installation_add(unit, pkg, installed_from=_t(1))
    installation_add(sensor, unit, installed_from=_t(1), installed_to=_t(10))
    installation_add(spare, unit, installed_from=_t(10))
    aircraft = Aircraft.objects.create(
        registration="D-AIGT", airline="Lufthansa", aircraft_type="A340-300", serial_number="1"
    )
    return Tree(pkg, unit, sensor, spare, aircraft)


def _series(instrument: Component | None, day: int, name: str) -> list[Series]:
    from stratoflow.server.catalog.services import series_import

    times = np.array([f"2024-01-{day:02d}T12:00:00", f"2024-01-{day:02d}T13:00:00"], "M8[ns]")
    ds = make_dataset(
        times,
        {"O3": (np.array([40.0, 41.0]), {"units": "1e-9", "long_name": "ozone"})},
        attrs={"source_checksum": f"sum-{name}", "flight_id": name, "reader": "test"},
    )
    return list(series_import(ds, identity=name, size=1, instrument=instrument).series)


def test_installation_overlap_and_cycle_are_rejected(tree: Tree) -> None:
    from stratoflow.server.catalog.services import installation_add

    with pytest.raises(CatalogError, match="overlaps"):
        installation_add(tree.sensor, tree.unit, installed_from=_t(5))
    with pytest.raises(CatalogError, match="cycle"):
        installation_add(tree.pkg, tree.sensor, installed_from=_t(20))
    with pytest.raises(CatalogError, match="not after start"):
        installation_add(
            tree.sensor,
            tree.pkg,
            installed_from=_t(20),
            installed_to=_t(19),
        )
    # back-to-back periods are fine: the end is exclusive
    installation_add(tree.sensor, tree.pkg, installed_from=_t(10), installed_to=_t(12))


def test_deployments_do_not_overlap_and_pick_pre_post_calibrations(
    tree: Tree,
) -> None:
    from stratoflow.server.catalog.models import Calibration
    from stratoflow.server.catalog.selectors import calibrations_for_deployment, deployment_at
    from stratoflow.server.catalog.services import deployment_add

    pkg = tree.pkg
    dep = deployment_add(pkg, tree.aircraft, time_start=_t(5), time_end=_t(15))
    with pytest.raises(CatalogError, match="overlaps"):
        deployment_add(pkg, tree.aircraft, time_start=_t(14))
    for day in (1, 4, 5, 15, 16, 20):
        Calibration.objects.create(component=pkg, time=_t(day), function="linear", parameters={})
    pre, post = calibrations_for_deployment(dep)
    assert pre is not None and pre.time == _t(5)  # latest at or before the start
    assert post is not None and post.time == _t(15)  # earliest at or after the end
    Calibration.objects.filter(time__in=[_t(5), _t(15)]).delete()
    pre, post = calibrations_for_deployment(dep)
    assert pre is not None and post is not None
    assert (pre.time, post.time) == (_t(4), _t(16))
    assert deployment_at(pkg, _t(15)) is None
    assert deployment_at(pkg, _t(14, 23)) == dep
    open_ended = deployment_add(pkg, tree.aircraft, time_start=_t(25))
    assert calibrations_for_deployment(open_ended)[1] is None


def test_defective_component_leads_to_affected_series_and_back(tree: Tree) -> None:
    from stratoflow.server.catalog.selectors import components_of_series, series_affected_by
    from stratoflow.server.catalog.services import deployment_add

    dep = deployment_add(tree.pkg, tree.aircraft, time_start=_t(1))
    early = _series(tree.pkg, 3, "flight-early")  # sensor S1 installed
    late = _series(tree.pkg, 12, "flight-late")  # spare S2 installed
    other = _series(None, 3, "flight-other")  # not from this instrument
    assert early[0].deployment == dep
    sensor, spare = tree.sensor, tree.spare
    assert list(series_affected_by(sensor)) == early
    assert list(series_affected_by(spare)) == late
    assert list(series_affected_by(tree.unit)) == early + late
    assert other[0] not in series_affected_by(tree.pkg)
    keys = {c.serial_number for c in components_of_series(early[0])}
    assert keys == {"P1", "U1", "S1"}
    keys = {c.serial_number for c in components_of_series(late[0])}
    assert keys == {"P1", "U1", "S2"}


def test_admin_lists_every_catalog_model(tree: Tree, admin_client: Client) -> None:
    from django.contrib import admin

    from stratoflow.server.catalog import models

    catalog_models = [m for m in admin.site._registry if m._meta.app_label == "catalog"]
    assert models.Deployment in catalog_models and models.Calibration in catalog_models
    for model in catalog_models:
        url = f"/admin/catalog/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url
        page = admin_client.get(f"/admin/catalog/component/{tree.pkg.pk}/change/")
    assert page.status_code == 200 and b"installed part" in page.content.lower()
