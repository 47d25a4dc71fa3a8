"""gcp-storage-emulator (PyPI) for the parquet exporter's gs:// test, with one gap in its
XML API filled as the real service behaves: an object PUT answers with the object's
`ETag` (its MD5 in quotes, as Google documents for the XML API's PUT Object), which
object_store requires and the emulator leaves out. Everything else is the emulator's own.

Usage: gcs_emulator.py start --host HOST --port PORT --in-memory
"""
import hashlib
import sys
from http import HTTPStatus

from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.handlers import objects


def xml_upload_with_etag(request, response, storage, *args, **kwargs):
    objects.xml_upload(request, response, storage, *args, **kwargs)
    if response.status == HTTPStatus.OK:
        response["ETag"] = '"{}"'.format(hashlib.md5(request.data).hexdigest())


for _, methods in server.HANDLERS:
    for method, handler in list(methods.items()):
        if handler is objects.xml_upload:
            methods[method] = xml_upload_with_etag

if __name__ == "__main__":
    main(sys.argv[1:])
