// A real OpenID provider for the integration tests: `oidc-provider` on 127.0.0.1 with a
// free port, issuer http://127.0.0.1:PORT, development interactions (plain HTML forms the
// test posts to), fresh RSA and EC signing keys, and two static clients:
//
//   panjereh        client_secret_basic, ID tokens signed RS256
//   panjereh-es256  client_secret_post,  ID tokens signed ES256
//
// Any login name is accepted by the development login form; the accounts below give
// their claims, others get only `sub`. Prints `listening PORT` on stdout once ready.
//
// Usage: node provider.mjs REDIRECT_URI [userinfo]
//
// With `userinfo`, scope claims are given only by the UserInfo endpoint (the standard's
// default); otherwise they are in the ID token too.

import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const redirectUri = process.argv[2];
const claimsInUserInfoOnly = process.argv[3] === 'userinfo';
if (!redirectUri) {
  console.error('usage: node provider.mjs REDIRECT_URI');
  process.exit(2);
}

const accounts = {
  citizen: { national_id: '0499370899', phone_number: '09121234567' },
  persian: { national_id: '۰۴۹۹۳۷۰۸۹۹' },
  invalid: { national_id: '0499370898' },
  nobody: {},
};

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-test` };
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const client = {
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  };
  const provider = new Provider(issuer, {
    clients: [
      { ...client, client_id: 'panjereh', client_secret: 'panjereh-test-secret',
        token_endpoint_auth_method: 'client_secret_basic' },
      { ...client, client_id: 'panjereh-es256', client_secret: 'panjereh-es256-secret',
        token_endpoint_auth_method: 'client_secret_post', id_token_signed_response_alg: 'ES256' },
    ],
    jwks: {
      keys: [
        jwk('rsa', { modulusLength: 2048 }, 'RS256'),
        jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
      ],
    },
    claims: { openid: ['sub'], national_id: ['national_id'], phone: ['phone_number'] },
    // Claims of the granted scopes go in the ID token too, as national SSOs do (unless
    // `userinfo` was asked for).
    conformIdTokenClaims: claimsInUserInfoOnly,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...(accounts[id] ?? {}) };
        },
      };
    },
  });
  provider.on('server_error', (ctx, error) => console.error('server_error', error));
  server.on('request', provider.callback());
  console.log(`listening ${port}`);
});

process.stdout.on('error', () => {});
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
