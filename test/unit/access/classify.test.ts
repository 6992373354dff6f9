import { describe, expect, it } from 'vitest';
import { btgHeaderToken, classifyRequest } from '../../../src/access/classify.js';
import { refusalOf } from './refusal.js';

const options = { btgPath: '/btg', btgHeader: 'breaktheglass', maxTokenBytes: 64 };
const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJwa2JJZCI6InAxIn0.c2lnbmF0dXJl';

function classify(method: string, target: string, headers: string[] = []) {
  return classifyRequest(method, target, headers, options);
}

function refusal(headers: string[]) {
  expect(classify('GET', '/patients/p1', headers).kind).toBe('btg');
  return refusalOf(() => btgHeaderToken(headers, options));
}

describe('classifyRequest', () => {
  it.each([
    ['POST', '/btg', [], 'grant'],
    ['POST', '/btg?userId=u&pkbId=p1', [], 'grant'],
    ['DELETE', '/btg', ['breaktheglass', TOKEN], 'grant'],
    ['DELETE', '/btg', ['breaktheglass', 'not a token'], 'grant'],
    ['GET', '/btg', ['Breaktheglass', TOKEN, 'breaktheglass', TOKEN], 'grant'],
    ['GET', '/.well-known/jwks.json', [], 'jwks'],
    ['GET', '/.well-known/jwks.json?x=1', ['breaktheglass', TOKEN], 'jwks'],
    ['GET', '/patients/p1', [], 'passthrough'],
    ['GET', '/patients/p1', ['Authorization', 'Bearer x', 'X-Breaktheglass', TOKEN], 'passthrough'],
    ['POST', '/btg/', [], 'passthrough'],
    ['POST', '/BTG', [], 'passthrough'],
    ['POST', '/%62tg', [], 'passthrough'],
    ['POST', '//btg', [], 'passthrough'],
    ['POST', 'http://gateway/btg', [], 'passthrough'],
    ['POST', '/.well-known/jwks.json', [], 'passthrough'],
    ['GET', '/.well-known/jwks.json/', [], 'passthrough'],
  ])('%s %s %j is %s', (method, target, headers, kind) => {
    expect(classify(method, target, headers)).toEqual({ kind });
  });

  it.each([
    ['breaktheglass', TOKEN],
    ['BreakTheGlass', TOKEN],
    ['BREAKTHEGLASS', TOKEN],
  ])('a %s header makes a BTG request', (name, value) => {
    expect(classify('GET', '/patients/p1', ['Host', 'x', name, value])).toEqual({ kind: 'btg', values: [TOKEN] });
  });

  it('a BTG header to a path that is not the grant path stays BTG, however the path is spelled', () => {
    expect(classify('DELETE', '/btg/', ['breaktheglass', TOKEN])).toEqual({ kind: 'btg', values: [TOKEN] });
    expect(classify('DELETE', '/BTG', ['breaktheglass', TOKEN])).toEqual({ kind: 'btg', values: [TOKEN] });
  });

  it.each([
    [['breaktheglass', TOKEN, 'breaktheglass', TOKEN], /exactly once/],
    [['breaktheglass', TOKEN, 'BreakTheGlass', TOKEN], /exactly once/],
    [['breaktheglass', '', 'x', 'y'], /exactly once|empty/],
    [['breaktheglass', ''], /is empty/],
    [['breaktheglass', `${TOKEN},${TOKEN}`], /longer than|not a list/],
    [['breaktheglass', 'a.b.c,d.e.f'], /not a list/],
    [['breaktheglass', `${TOKEN}x`.padEnd(65, 'x')], /longer than 64 bytes/],
    [['breaktheglass', 'a.b'], /compact JWS/],
    [['breaktheglass', 'a.b.c.d.e'], /compact JWS/],
    [['breaktheglass', '.b.c'], /compact JWS/],
    [['breaktheglass', 'a..c'], /compact JWS/],
    [['breaktheglass', 'a.b.'], /compact JWS/],
    [['breaktheglass', 'a.b+/.c'], /compact JWS/],
    [['breaktheglass', 'a.b.c='], /compact JWS/],
    [['breaktheglass', 'Bearer a.b.c'], /compact JWS/],
    [['breaktheglass', ' a.b.c'], /compact JWS/],
    [['breaktheglass', 'a.b.c\u00ff'], /compact JWS/],
    [['breaktheglass', 'null'], /compact JWS/],
  ])('refuses %j with 401 invalid_token', (headers, message) => {
    const err = refusal(headers);
    expect([err.status, err.code]).toEqual([401, 'invalid_token']);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(TOKEN);
  });

  it('accepts a token of exactly maxTokenBytes', () => {
    const token = `a.b.${'c'.repeat(60)}`;
    expect(token).toHaveLength(64);
    expect(btgHeaderToken(['breaktheglass', token], options)).toBe(token);
  });

  it('honours a configured header name and grant path', () => {
    const custom = { btgPath: '/emergency/grant', btgHeader: 'X-BTG', maxTokenBytes: 4096 };
    expect(classifyRequest('POST', '/emergency/grant', [], custom)).toEqual({ kind: 'grant' });
    expect(classifyRequest('GET', '/btg', ['x-btg', TOKEN], custom)).toEqual({ kind: 'btg', values: [TOKEN] });
    expect(classifyRequest('GET', '/p', ['breaktheglass', TOKEN], custom)).toEqual({ kind: 'passthrough' });
  });
});
