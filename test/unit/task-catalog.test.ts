import { describe, expect, it } from 'vitest'
import { taskCatalog, taskInfo } from '../../scheduler/catalog.ts'
import { tasks } from '../../scheduler/tasks.ts'
import { tasks as edgeTasks } from '../../scheduler/tasks-edge.ts'

describe('task catalog', () => {
  it('lists exactly the registered tasks, in the same order, with the same metadata', () => {
    expect(taskCatalog.map((t) => t.name)).toEqual(tasks.map((t) => t.name))
    for (const t of tasks) {
      expect(t.description).toBe(taskInfo(t.name).description)
      expect(t.everySeconds).toBe(taskInfo(t.name).everySeconds)
    }
  })
  it('the edge registry (built in place of tasks.ts) has the same tasks, in the same order', () => {
    expect(edgeTasks.map((t) => t.name)).toEqual(tasks.map((t) => t.name))
    for (const t of edgeTasks) expect(t.everySeconds).toBe(taskInfo(t.name).everySeconds)
  })
  it('an unknown task name is a programming error, said plainly', () => {
    expect(() => taskInfo('nope')).toThrow(/not in scheduler\/catalog.ts/)
  })
})
