// What development mode prints at start: the secrets it made up, a token to connect
// with and the commands to try. Loud on purpose: these secrets must never be mistaken
// for a production setup.
import type { PusherConfig } from './config.js'
import { IN_MEMORY } from './engines.js'
import { mintToken } from '../auth/mint-token.js'

export function devBanner(config: PusherConfig, baseUrl: string): string {
  const { generated } = config
  const secret = generated.jwtSecret ?? (typeof config.jwt?.key === 'string' ? config.jwt.key : undefined)
  const apiKey = config.apiKeys[0]
  const wsUrl = baseUrl.replace(/^http/, 'ws')
  const lines = [
    '',
    '================ fastify-pusher: DEVELOPMENT MODE (PUSHER_DEV) ================',
    'Throwaway secrets were generated for this run. Never use development mode in',
    'production: set JWT_SECRET and PUSHER_API_KEY instead.',
    '',
  ]
  if (generated.jwtSecret) lines.push(`  JWT_SECRET=${generated.jwtSecret}`)
  if (generated.apiKey) lines.push(`  PUSHER_API_KEY=${generated.apiKey}`)
  if (secret !== undefined && config.jwt?.algorithms.includes('HS256')) {
    const token = mintToken({ secret, uid: 'demo', ttlSeconds: 24 * 3600 })
    lines.push(
      '',
      'Connect as user "demo" (token valid 24 h):',
      `  npx wscat -c '${wsUrl}/ws?token=${token}'`,
      'Push to it:',
      `  curl -H 'Authorization: Bearer ${apiKey}' -d uid=demo -d message=hello ${baseUrl}/send`,
      'Mint a token for another user:',
      `  JWT_SECRET=${secret} npm run token -- alice`,
    )
  }
  if (config.store?.path === IN_MEMORY) {
    lines.push('Durable sends (add -d ttl=60) are kept in memory for this run; set PUSHER_DB=<file> to keep them on disk.')
  }
  lines.push(`Metrics: ${baseUrl}/metrics`, '================================================================================', '')
  return lines.join('\n')
}
