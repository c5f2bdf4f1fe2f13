// provider.vpc for serverless.yml, from the stage parameters subnetIds and securityGroupIds
// (comma-separated): both empty means no VPC, which CloudFormation cannot express with a condition
// inside VpcConfig. CommonJS because osls loads variable files with require().
const list = (value) => String(value ?? '').split(',').map((item) => item.trim()).filter(Boolean);

module.exports = async ({ resolveVariable }) => {
  const subnetIds = list(await resolveVariable('param:subnetIds'));
  const securityGroupIds = list(await resolveVariable('param:securityGroupIds'));
  if (subnetIds.length === 0 && securityGroupIds.length === 0) return null;
  if (subnetIds.length === 0 || securityGroupIds.length === 0) {
    throw new Error('the stage parameters subnetIds and securityGroupIds go together: give both, or neither');
  }
  return { subnetIds, securityGroupIds };
};
