"""IMDS ``GET /metadata/instance`` for a node of an AKS scale set, shaped as Azure answers for a scale set VM.

Shape and versioning: MicrosoftDocs/azure-docs ``articles/virtual-machines/instance-metadata-service.md``
("Instance metadata", the compute and network tables with the version each field was introduced in, and
``includes/imds-full-instance-response.md``): all primitives are strings, missing or inapplicable values are
empty strings, a field appears from the api-version that introduced it. Errors: no ``Metadata: true`` header ->
400 ``{"error": "Bad request. Required metadata header not specified"}``; no api-version -> 400 with
``newest-versions`` (the page's "Versioning" section). Values the sandbox cannot know from the scale set
(image, disks, keys) are empty strings.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..httpd import Response

SUPPORTED = [
    "2017-03-01",
    "2017-04-02",
    "2017-08-01",
    "2017-10-01",
    "2017-12-01",
    "2018-02-01",
    "2018-04-02",
    "2018-10-01",
    "2019-02-01",
    "2019-03-11",
    "2019-04-30",
    "2019-06-01",
    "2019-06-04",
    "2019-08-01",
    "2019-08-15",
    "2019-11-01",
    "2020-06-01",
    "2020-07-15",
    "2020-09-01",
    "2020-10-01",
    "2020-12-01",
    "2021-01-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2021-10-01",
    "2021-11-01",
    "2021-11-15",
    "2021-12-13",
]
NEWEST = ["2020-10-01", "2020-09-01", "2020-07-15"]  # what the page's example error lists

# field -> api-version that introduced it (the page's compute table)
COMPUTE_SINCE = {
    "azEnvironment": "2018-10-01",
    "isHostCompatibilityLayerVm": "2020-06-01",
    "licenseType": "2020-09-01",
    "location": "2017-04-02",
    "name": "2017-04-02",
    "offer": "2017-04-02",
    "osProfile": "2020-07-15",
    "osType": "2017-04-02",
    "placementGroupId": "2017-08-01",
    "plan": "2018-04-02",
    "platformFaultDomain": "2017-04-02",
    "platformUpdateDomain": "2017-04-02",
    "priority": "2020-12-01",
    "evictionPolicy": "2020-12-01",
    "provider": "2018-10-01",
    "publicKeys": "2018-04-02",
    "publisher": "2017-04-02",
    "resourceGroupName": "2017-08-01",
    "resourceId": "2019-03-11",
    "securityProfile": "2020-06-01",
    "sku": "2017-04-02",
    "storageProfile": "2019-06-01",
    "subscriptionId": "2017-08-01",
    "tags": "2017-08-01",
    "tagsList": "2019-06-04",
    "version": "2017-04-02",
    "vmId": "2017-04-02",
    "vmScaleSetName": "2017-12-01",
    "vmSize": "2017-04-02",
    "zone": "2017-12-01",
}


def compact_json(body: Any, status: int = 200) -> Response:
    """IMDS writes JSON without spaces (what ``curl`` shows a person)."""
    return Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json; charset=utf-8",
    )


def check(metadata_header: str | None, api_version: str | None) -> Response | None:
    """IMDS's refusals, or None when the request may be answered."""
    if (metadata_header or "").lower() != "true":
        return compact_json({"error": "Bad request. Required metadata header not specified"}, 400)
    if not api_version or api_version not in SUPPORTED:
        return compact_json(
            {
                "error": "Bad request. api-version was not specified in the request. "
                "For more information refer to aka.ms/azureimds",
                "newest-versions": NEWEST,
            },
            400,
        )
    return None


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(p.lower() for p in parts)))


def instance(
    vmss: dict[str, Any], index: int, computer_name: str, private_ip: str, api_version: str
) -> dict[str, Any]:
    """The document for instance ``index`` of ``vmss`` (an ARM scale set body); on AKS the computer name is the
    node's name and the admin user is ``azureuser`` (``az aks create --admin-username`` default)."""
    vmss_id = vmss["id"]
    parts = vmss_id.split("/")
    tags = vmss.get("tags") or {}
    empty_disk = {"uri": ""}
    compute: dict[str, Any] = {
        "azEnvironment": "AZUREPUBLICCLOUD",  # as the page's example shows it
        "isHostCompatibilityLayerVm": "false",
        "licenseType": "",
        "location": vmss.get("location", ""),
        "name": f"{vmss['name']}_{index}",
        "offer": "",
        "osProfile": {"adminUsername": "azureuser", "computerName": computer_name},
        "osType": "Linux",
        "placementGroupId": _stable_id(vmss_id, "placementGroup"),
        "plan": {"name": "", "product": "", "publisher": ""},
        "platformFaultDomain": "0",
        "platformUpdateDomain": "0",
        "priority": "Regular",
        "evictionPolicy": "",
        "provider": "Microsoft.Compute",
        "publicKeys": [],
        "publisher": "",
        "resourceGroupName": parts[4],
        "resourceId": f"{vmss_id}/virtualMachines/{index}",
        "securityProfile": {"secureBootEnabled": "false", "virtualTpmEnabled": "false"},
        "sku": "",
        "storageProfile": {
            "dataDisks": [],
            "imageReference": {"id": "", "offer": "", "publisher": "", "sku": "", "version": ""},
            "osDisk": {
                "caching": "",
                "createOption": "FromImage",
                "diffDiskSettings": {"option": ""},
                "diskSizeGB": "",
                "encryptionSettings": {"enabled": "false"},
                "image": empty_disk,
                "managedDisk": {"id": "", "storageAccountType": ""},
                "name": "",
                "osType": "Linux",
                "vhd": empty_disk,
                "writeAcceleratorEnabled": "false",
            },
        },
        "subscriptionId": parts[2],
        "tags": ";".join(f"{k}:{v}" for k, v in tags.items()),
        "tagsList": [{"name": k, "value": v} for k, v in tags.items()],
        "version": "",
        "vmId": _stable_id(vmss_id, str(index)),
        "vmScaleSetName": vmss["name"],
        "vmSize": (vmss.get("sku") or {}).get("name", ""),
        "zone": "",
    }
    compute = {k: v for k, v in compute.items() if COMPUTE_SINCE[k] <= api_version}
    octets = private_ip.split(".")
    network = {
        "interface": [
            {
                "ipv4": {
                    "ipAddress": [{"privateIpAddress": private_ip, "publicIpAddress": ""}],
                    "subnet": [{"address": ".".join([*octets[:2], "0", "0"]), "prefix": "16"}],
                },
                "ipv6": {"ipAddress": []},
                "macAddress": "000D3A" + _stable_id(vmss_id, str(index), "mac").replace("-", "")[:6].upper(),
            }
        ]
    }
    return {"compute": compute, "network": network}
