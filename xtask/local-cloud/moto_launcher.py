"""Starts moto's server with the project's bridges for gaps of the emulator, so that the
provisioner's AWS code stays exactly what runs against AWS. Each bridge names the gap it closes.
"""
import sys

from moto.s3vectors import responses


# Gap: moto drops an index's metadataConfiguration (AWS stores it, immutably, and GetIndex
# reports it), so a converged index would look as if it needed replacing on every plan.
_create_index = responses.S3VectorsResponse.create_index


def _create_index_keeping_metadata(self):
    result = _create_index(self)
    config = self._get_param("metadataConfiguration")
    if config:
        index = self.s3vectors_backend.get_index(self._get_param("vectorBucketName"), self._get_param("indexName"), self._get_param("indexArn"))
        index.metadata_configuration = {"nonFilterableMetadataKeys": list(config.get("nonFilterableMetadataKeys", []))}
    return result


responses.S3VectorsResponse.create_index = _create_index_keeping_metadata

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
