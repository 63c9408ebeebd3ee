'use strict'
// make bench's peer: the requests of the bench's wrk cases served as a small
// Fastify + pg service would serve them, over prm's tables. Each request runs
// the statements of its case's database side, in the same order, from
// target/bench/peer-sql.json (bench/run.py writes it and the pgbench scripts
// from one definition), as named prepared statements with bound parameters.
//
//   PEER_LISTEN=127.0.0.1:8081 PEER_SQL=target/bench/peer-sql.json \
//   PEER_POOL_SIZE=8 PEER_JWT_SECRET=… DATABASE_URL=postgres://… node server.js
//
// What it serves: GET /healthz, /readyz, /api/v1/opportunities/:id,
// /api/v1/opportunities (view=managed | q= | partner_id=&sort=-updated_at or expected_close_date),
// /api/v1/dashboard (partner roles), POST /api/v1/opportunities and
// /api/v1/opportunities/:id/accept. Anything else is a 400 or 404.

const fs = require('node:fs')
const Fastify = require('fastify')
const pg = require('pg')
const { createVerifier } = require('fast-jwt')

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback
  if (v === undefined) throw new Error(`${name} is not set`)
  return v
}
const SQL = JSON.parse(fs.readFileSync(env('PEER_SQL'), 'utf8'))
const [HOST, PORT] = env('PEER_LISTEN').split(':')
const AUTH_CACHE_MS = Number(env('PEER_AUTH_CACHE_MS', '5000'))

pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v) // a date stays YYYY-MM-DD
pg.types.setTypeParser(pg.types.builtins.INT8, Number) // counts and reference numbers
pg.types.setTypeParser(1231, pg.types.getTypeParser(1009)) // numeric[] as strings, as numeric is: exact amounts
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: Number(env('PEER_POOL_SIZE')) })

// HS256 with prm's secret; like prm, verified tokens are remembered (by
// their text) until they expire, and 10 s of clock skew are tolerated.
const verify = createVerifier({
  key: env('PEER_JWT_SECRET'),
  algorithms: ['HS256'],
  requiredClaims: ['sub', 'exp'],
  clockTolerance: 10_000,
  cache: 4096
})

const LIVE = new Set(['delivered', 'accepted', 'won', 'lost'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

class Problem extends Error {
  constructor (status, code, detail) {
    super(detail)
    this.status = status
    this.code = code
  }
}

function query (db, name, values) {
  const { text, params } = SQL.statements[name]
  return db.query({
    name,
    text,
    values: params.map((p) => {
      if (values[p] === undefined) throw new Error(`${name}: no value for :${p}`)
      return values[p]
    })
  })
}

// A case's statements in run.py's order: a handler that skips, adds or
// reorders one fails its request, and so the bench, instead of measuring
// other work than the database side's.
class Steps {
  constructor (db, kase) {
    this.db = db
    this.want = SQL.cases[kase]
    this.at = 0
  }

  q (name, values) {
    if (this.want[this.at] !== name) {
      throw new Error(`ran ${name} where the case's next statement is ${this.want[this.at]}`)
    }
    this.at++
    return query(this.db, name, values)
  }

  done () {
    if (this.at !== this.want.length) throw new Error(`ran ${this.at} of the case's ${this.want.length} statements`)
  }
}

// One transaction on one connection; rolled back on any error.
async function transaction (kase, work) {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const steps = new Steps(client, kase)
    const result = await work(steps)
    steps.done()
    await client.query('COMMIT')
    return result
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  } finally {
    client.release()
  }
}

// Subject → actor, kept AUTH_CACHE_MS as prm keeps it (PRM_AUTH_CACHE_MS).
const actors = new Map()
async function actorOf (subject) {
  const hit = actors.get(subject)
  if (hit && Date.now() - hit.at < AUTH_CACHE_MS) return hit.actor
  const { rows: [u] } = await query(pool, 'actor', { subject })
  if (!u) throw new Problem(401, 'unknown_subject', "the token's subject is not a user of this service")
  if (!u.active) throw new Problem(403, 'user_inactive', 'this user has been deactivated')
  if (!u.org_active) throw new Problem(403, 'org_inactive', "this user's organization has been deactivated")
  const resellers = u.kind === 'distributor'
    ? (await query(pool, 'resellers', { org: u.org_id })).rows.map((r) => r.id)
    : []
  const actor = {
    user: u.id,
    org: u.org_id,
    kind: u.kind,
    role: u.role,
    resellers,
    scope: [u.org_id, ...resellers]
  }
  if (actors.size > 10_000) actors.clear()
  actors.set(subject, { actor, at: Date.now() })
  return actor
}

async function authenticate (req) {
  const header = req.headers.authorization
  if (!header) throw new Problem(401, 'missing_token', 'send `Authorization: Bearer <token>`')
  const [scheme, token] = header.split(' ')
  if (scheme.toLowerCase() !== 'bearer' || !token) {
    throw new Problem(401, 'invalid_token', 'the Authorization header must be `Bearer <token>`')
  }
  let claims
  try {
    claims = verify(token)
  } catch {
    throw new Problem(401, 'invalid_token', 'the token is invalid or expired')
  }
  req.actor = await actorOf(claims.sub)
}

// The service's visibility rule, for a row already read.
function visible (actor, o) {
  if (actor.kind === 'vendor') return true
  const mine = (org) => actor.scope.includes(org)
  if (o.origin === 'partner' && mine(o.owner_org_id)) return true
  return LIVE.has(o.status) && (mine(o.primary_partner_id) || o.collaborator_ids.some(mine))
}

const money = (amount, currency) => amount == null || currency == null
  ? null
  : { amount: amount.replace(/^(-?\d+)\.(\d\d)\d*$/, '$1.$2'), currency }
const mask = (name) => name.replace(/\S+/g, (w) => w[0] + '•'.repeat(w.length - 1))

// An opportunity row (run.py's COLS) as the API's Opportunity.
function opportunity (actor, o) {
  const masked = actor.resellers.includes(o.customer_org_id)
  const offered = o.status === 'delivered' && actor.kind !== 'vendor'
  return {
    id: o.id,
    reference: `OPP-${String(o.reference_no).padStart(6, '0')}`,
    external_ref: o.external_ref,
    topic: o.topic,
    status: o.status,
    origin: o.origin,
    customer: { id: o.customer_id, name: masked ? mask(o.customer_name) : o.customer_name, name_masked: masked },
    contact: {
      name: o.contact_name,
      email: offered ? null : o.contact_email,
      phone: offered ? null : o.contact_phone,
      title: o.contact_title
    },
    estimated_revenue: money(o.estimated_revenue, o.currency),
    expected_close_date: o.expected_close_date,
    customer_situation: o.customer_situation,
    customer_need: o.customer_need,
    proposed_solution: o.proposed_solution,
    country: o.country,
    industry: o.industry,
    product_lines: o.product_lines,
    marketing_task_id: o.marketing_task_id,
    owner_org_id: o.owner_org_id,
    owner_user_id: o.owner_user_id,
    primary_partner_id: o.primary_partner_id,
    collaborator_ids: o.collaborator_ids,
    pipeline_phase: o.pipeline_phase,
    win_probability: o.win_probability,
    accept_by: o.accept_by,
    expires_on: o.expires_on,
    extension_count: o.extension_count,
    max_extensions: o.max_extensions,
    deal_registration_live: o.registered,
    close_reason_code: o.close_reason_code,
    close_reason: o.close_reason,
    actual_revenue: money(o.actual_revenue, o.currency),
    closed_at: o.closed_at,
    version: o.version,
    created_at: o.created_at,
    updated_at: o.updated_at
  }
}

function page (actor, rows, limit) {
  const more = rows.length > limit
  const items = (more ? rows.slice(0, limit) : rows).map((o) => opportunity(actor, o))
  return { items, next_cursor: more ? Buffer.from(items[limit - 1].id).toString('base64url') : null }
}

function partnerOnly (actor) {
  if (actor.kind === 'vendor') throw new Problem(400, 'unsupported', 'the peer serves this to partner users only')
}

const app = Fastify({ logger: false })

app.setErrorHandler((err, req, reply) => {
  if (err instanceof Problem || err.validation) {
    const status = err.status ?? 422
    const code = err.code ?? 'validation_failed'
    return reply.code(status).type('application/problem+json')
      .send({ type: 'about:blank', title: code, status, code, detail: err.message })
  }
  req.log.error(err)
  process.stderr.write(`${req.method} ${req.url}: ${err.stack}\n`)
  return reply.code(500).type('application/problem+json')
    .send({ type: 'about:blank', title: 'internal', status: 500, code: 'internal' })
})

app.get('/healthz', async () => ({ status: 'ok' }))

app.get('/readyz', async () => {
  await pool.query('SELECT 1')
  return { status: 'ready' }
})

app.register(async (api) => {
  api.decorateRequest('actor', null)
  api.addHook('onRequest', authenticate)

  api.get('/opportunities/:id', async (req) => {
    const { id } = req.params
    if (!UUID.test(id)) throw new Problem(404, 'not_found', 'no such opportunity')
    const steps = new Steps(pool, 'get')
    const { rows: [o] } = await steps.q('opportunity', { id, org: req.actor.org })
    steps.done()
    if (!o || !visible(req.actor, o)) throw new Problem(404, 'not_found', 'no such opportunity')
    return opportunity(req.actor, o)
  })

  api.get('/opportunities', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          view: { enum: ['managed'] },
          q: { type: 'string', minLength: 1, maxLength: 200 },
          partner_id: { type: 'string', format: 'uuid' },
          sort: { enum: ['-updated_at', 'expected_close_date'] },
          limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 }
        }
      }
    }
  }, async (req) => {
    const { actor } = req
    const { view, q, partner_id: partner, sort, limit } = req.query
    const values = { org: actor.org, scope: actor.scope, limit: limit + 1 }
    let kase, statement
    if (q !== undefined && view === undefined && partner === undefined && sort === undefined) {
      values.term = q
      values.pattern = `%${q.replace(/[\\%_]/g, '\\$&')}%`
      // A distributor's resellers' customers are masked for it: their names
      // are not searched.
      values.masked = actor.resellers
      ;[kase, statement] = actor.kind === 'vendor' ? ['search', 'search_vendor'] : ['search_partner', 'search_partner']
    } else if (view === 'managed' && q === undefined && partner === undefined && sort === undefined) {
      partnerOnly(actor)
      ;[kase, statement] = ['list', 'list_managed']
    } else if (partner !== undefined && sort !== undefined && view === undefined && q === undefined) {
      partnerOnly(actor)
      values.partner = partner
      const name = sort === '-updated_at' ? 'list_updated' : 'list_close_date'
      ;[kase, statement] = [name, name]
    } else {
      throw new Problem(400, 'unsupported', 'the peer serves view=managed, q=, or partner_id= with sort=-updated_at or expected_close_date')
    }
    const steps = new Steps(pool, kase)
    const { rows } = await steps.q(statement, values)
    steps.done()
    return page(actor, rows, limit)
  })

  api.post('/opportunities', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['topic', 'customer_id'],
        properties: {
          topic: { type: 'string', minLength: 1, maxLength: 200 },
          customer_id: { type: 'string', format: 'uuid' },
          estimated_revenue: {
            type: 'object',
            additionalProperties: false,
            required: ['amount', 'currency'],
            properties: {
              amount: { type: 'string', pattern: '^[0-9]{1,15}(\\.[0-9]{1,4})?$' },
              currency: { type: 'string', pattern: '^[A-Z]{3}$' }
            }
          },
          product_lines: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 50 } }
        }
      }
    }
  }, async (req, reply) => {
    const { actor, body } = req
    const view = await transaction('create', async (steps) => {
      const { rows: [customer] } = await steps.q('customer', { customer_id: body.customer_id })
      if (!customer) throw new Problem(422, 'unknown_customer', 'customer_id names no customer')
      const { rows: [o] } = await steps.q('create_insert', {
        topic: body.topic,
        customer_id: customer.id,
        currency: body.estimated_revenue?.currency ?? null,
        amount: body.estimated_revenue?.amount ?? null,
        product_lines: (body.product_lines ?? []).map((p) => p.trim().toLowerCase()),
        origin: actor.kind === 'vendor' ? 'vendor' : 'partner',
        org: actor.org,
        user: actor.user,
        country: customer.country
      })
      await steps.q('journal_created', { id: o.id, user: actor.user, org: actor.org })
      return opportunity(actor, o)
    })
    return reply.code(201).header('location', `/api/v1/opportunities/${view.id}`).send(view)
  })

  api.post('/opportunities/:id/accept', async (req) => {
    const { actor } = req
    const { id } = req.params
    if (!UUID.test(id)) throw new Problem(404, 'not_found', 'no such opportunity')
    partnerOnly(actor)
    return transaction('accept', async (steps) => {
      const { rows: [o] } = await steps.q('accept_lock', { id })
      if (!o || !visible(actor, o)) throw new Problem(404, 'not_found', 'no such opportunity')
      if (o.status !== 'delivered' || o.primary_partner_id !== actor.org) {
        throw new Problem(409, 'invalid_transition', `an opportunity ${o.status} cannot be accepted by this org`)
      }
      const { rows: [policy] } = await steps.q('policy_vendor', {})
      const { rows: [view] } = await steps.q('accept_update', { id, org: actor.org, user: actor.user, validity_days: policy.opportunity_validity_days })
      await steps.q('journal_accepted', { id, user: actor.user, org: actor.org })
      return opportunity(actor, view)
    })
  })

  api.get('/dashboard', async (req) => {
    const { actor } = req
    partnerOnly(actor)
    const steps = new Steps(pool, 'dashboard')
    // An account manager's figures are what it owns; an admin's its org's.
    const owner = actor.role === 'account_manager' ? actor.user : null
    const { rows: [s] } = await steps.q('dashboard_summary', { org: actor.org, scope: actor.scope, owner })
    steps.done()
    const registrations = { submitted: 0, approved: 0, rejected: 0, withdrawn: 0, expired: 0, closed: 0 }
    s.registration_statuses.forEach((status, i) => { registrations[status] = Number(s.registration_counts[i]) })
    return {
      kind: 'partner',
      distributed: {
        count: s.distributed,
        value: s.offer_currencies.map((c, i) => money(s.offer_values[i], c)),
        next_deadline: s.next_deadline
      },
      managed: {
        count: s.managed,
        by_phase: { qualify: s.qualify, develop: s.develop, propose: s.propose, negotiate: s.negotiate, commit: s.commit },
        collaborating: s.collaborating,
        expiring_soon: s.expiring
      },
      closed_90d: { won: s.won, lost: s.lost },
      win_rate: s.won + s.lost > 0 ? s.won / (s.won + s.lost) : null,
      deal_registrations: registrations
    }
  })
}, { prefix: '/api/v1' })

app.listen({ host: HOST, port: Number(PORT) }).catch((err) => {
  process.stderr.write(`${err.stack}\n`)
  process.exit(1)
})
