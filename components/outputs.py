"""Stack output names: the contract with users' scripts and the tests."""

CLUSTER_NAME = "clusterName"
CLUSTER_ENDPOINT = "clusterEndpoint"
KUBECONFIG = "kubeconfig"
NODE_POOLS = "nodePools"
VPC_ID = "vpcId"
