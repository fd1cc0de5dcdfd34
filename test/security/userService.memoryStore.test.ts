import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {addUser, listRoles, listUsers, putRole, removeRole, removeUser, revokeToken} from '../../src/security/userService.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

async function cluster(): Promise<ReturnType<typeof makeServiceContext>> {
  const ctx = makeServiceContext(new MemoryStore(), {cluster: 'sec'})
  await initCluster(ctx, {shards: 1, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101'), force: false})
  return ctx
}

describe('what role add and user revoke-token say when nothing changes', () => {
  it('role add repeated says what the role already grants (it said "role reader already so")', async () => {
    const ctx = await cluster()
    expect((await putRole(ctx, 'reader', 'read', ['app/'])).message).toBe('role reader: read on "app/"')
    const again = await putRole(ctx, 'reader', 'read', ['app/'])
    expect(again.changed).toBe(false)
    expect(again.message).toBe('role reader already grants read on "app/": nothing changed')
  })

  it('revoke-token of an id the user does not have is still success but says so, not "already revoked" (a typo read as done)', async () => {
    const ctx = await cluster()
    await putRole(ctx, 'reader', 'read', ['app/'])
    const {user} = await addUser(ctx, 'alice', ['reader'], {token: true, certificate: false})
    const id = user.tokens[0]!.id
    const typo = await revokeToken(ctx, 'alice', '1f2e3d4c')
    expect(typo.changed).toBe(false)
    expect(typo.message).toBe('user alice has no token 1f2e3d4c: nothing to revoke (revoked already, or a typo: see `shardctl user list`)')
    expect((await revokeToken(ctx, 'alice', id)).message).toBe(`revoked token ${id} of alice`)
    expect((await revokeToken(ctx, 'alice', id)).changed).toBe(false)
  })
})

describe('user list, role list, user remove and role remove in a cluster that does not exist', () => {
  it('throw NOT_FOUND naming the cluster, as the commands that write users and roles do (they listed an empty table, exit 0, for a mistyped --cluster)', async () => {
    const ctx = await cluster()
    await putRole(ctx, 'reader', 'read', ['app/'])
    expect(await listRoles(ctx)).toHaveLength(1)
    expect(await listUsers(ctx)).toEqual([])
    const typo = makeServiceContext(ctx.store, {cluster: 'secc'})
    await expect(listRoles(typo)).rejects.toMatchObject({code: 'NOT_FOUND', message: 'cluster "secc" does not exist in etcd'})
    await expect(listUsers(typo)).rejects.toMatchObject({code: 'NOT_FOUND', message: 'cluster "secc" does not exist in etcd'})
  })

  it('remove throws NOT_FOUND there, not "already absent" (exit 0 for a mistyped --cluster); in the cluster it is still "already absent"', async () => {
    const ctx = await cluster()
    expect(await removeRole(ctx, 'reader')).toBe(false)
    expect(await removeUser(ctx, 'alice')).toBe(false)
    const typo = makeServiceContext(ctx.store, {cluster: 'secc'})
    await expect(removeRole(typo, 'reader')).rejects.toMatchObject({code: 'NOT_FOUND', message: 'cluster "secc" does not exist in etcd'})
    await expect(removeUser(typo, 'alice')).rejects.toMatchObject({code: 'NOT_FOUND', message: 'cluster "secc" does not exist in etcd'})
  })
})
