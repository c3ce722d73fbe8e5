import { render } from 'preact'
import { App } from './App.js'
import { restoreSession } from './lib/api.js'
import './styles.css'

render(<App />, document.getElementById('app')!)
void restoreSession()
