// What the API and the auth repository say about a token (never the token itself).

/** /api/tokens (auth module). The token itself appears only in the answer to its creation. */
export interface TokenInfo {
  id: string;
  name: string;
  role: 'admin' | 'developer' | 'viewer' | 'ingest' | 'metrics';
  team: string | null;
  createdAt: number;
  createdBy: string | null;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}
