#!/usr/bin/env python3
# How long "linger, then exit" shapes outlive their parent: the measurements behind
# the default --leak-grace (5 s). Each shape's parent is SIGKILLed once its children
# are up; the time until the last child has exited is printed, three runs each.
# Needs python3 and node. Run: python3 scripts/linger.py
import os, sys, time, subprocess, signal, tempfile
os.chdir(tempfile.mkdtemp(prefix="linger-"))
def alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()[0] != "Z"
    except OSError: return False
def children(pid):
    out=[]
    for t in os.listdir(f"/proc/{pid}/task"):
        try: out += [int(x) for x in open(f"/proc/{pid}/task/{t}/children").read().split()]
        except OSError: pass
    return out
def desc(pid):
    out=[]; st=children(pid)
    while st:
        p=st.pop(); out.append(p); st+=children(p)
    return out
def measure(name, argv, ready=1.0, runs=3):
    res=[]
    for _ in range(runs):
        p=subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(ready)
        d=desc(p.pid)
        p.kill(); p.wait(); t0=time.time()
        while any(alive(x) for x in d) and time.time()-t0<60: time.sleep(0.01)
        res.append(time.time()-t0 if not any(alive(x) for x in d) else float('inf'))
        for x in d:
            try: os.kill(x, 9)
            except OSError: pass
    print(f"{name}: {', '.join(f'{r:.2f}s' for r in res)} ({len(d)} descendants)")
POOL = "import multiprocessing as mp, time\nif __name__=='__main__':\n    mp.set_start_method('%s'); p=mp.Pool(3); p.map(abs, range(3)); time.sleep(3600)"
open("pool_fork.py","w").write(POOL % "fork")
open("pool_fs.py","w").write(POOL % "forkserver")
open("pool_spawn.py","w").write(POOL % "spawn")
measure("python Pool(fork), parent SIGKILLed", ["python3","pool_fork.py"], 1.5)
measure("python Pool(forkserver), parent SIGKILLed", ["python3","pool_fs.py"], 2.0)
measure("python Pool(spawn), parent SIGKILLed", ["python3","pool_spawn.py"], 2.5)
# esbuild-like: the service pings its parent through stdin; exits on 2 missed pings (1 s period)
ESB = r"""
const {spawn}=require('child_process');
const svc=spawn(process.execPath,['-e',`
let last=Date.now(); process.stdin.on('data',()=>{last=Date.now()}); process.stdin.on('end',()=>{});
setInterval(()=>{ if(Date.now()-last>2000) process.exit(0) },250);`],{stdio:['pipe','ignore','ignore']});
setInterval(()=>{try{svc.stdin.write('p')}catch(e){}},1000);
"""
open("esb.js","w").write(ESB)
measure("esbuild-like service (ping timeout 2 s)", ["node","esb.js"], 1.5)
# language-server-like: checks its client's pid every 3 s (vscode-languageserver's clientProcessId watch)
LSP = r"""
const {spawn}=require('child_process');
spawn(process.execPath,['-e',`const pp=${process.pid}; setInterval(()=>{try{process.kill(pp,0)}catch(e){process.exit(0)}},3000)`],{stdio:'ignore'});
setInterval(()=>{},1000);
"""
open("lsp.js","w").write(LSP)
measure("language-server-like (parent pid polled every 3 s)", ["node","lsp.js"], 1.0)
# node child with an IPC channel that exits on disconnect
IPC = r"""
const {fork}=require('child_process'); const fs=require('fs');
fs.writeFileSync(process.cwd() + '/c.js', "process.on('disconnect',()=>process.exit(0)); setInterval(()=>{},1000)");
fork(process.cwd() + '/c.js',{stdio:'ignore'}); setInterval(()=>{},1000);
"""
open("ipc.js","w").write(IPC)
measure("node fork() child, exits on IPC disconnect", ["node","ipc.js"], 1.0)
