"""AWS clients for the agents, in the runtime's region. AgentCore Runtime sets AWS_REGION;
older botocore reads only AWS_DEFAULT_REGION, so the region is passed explicitly."""
import os

import boto3


def region():
    value = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not value:
        raise RuntimeError("AWS_REGION is not set: AgentCore Runtime sets it; set it when running the agent by hand")
    return value


def client(service):
    return boto3.client(service, region_name=region())
